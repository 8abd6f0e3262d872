DROP TRIGGER consent_events_removed ON consent_events;
DROP TRIGGER consent_events_written ON consent_events;
DROP FUNCTION consent_month_counts_removed();
DROP FUNCTION consent_month_counts_written();
DROP TABLE consent_month_counts;
