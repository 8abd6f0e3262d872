DROP TABLE consent_daily_counts;
DROP TABLE consent_events;
