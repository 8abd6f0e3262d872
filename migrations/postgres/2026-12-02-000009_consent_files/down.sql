DROP TABLE consent_file_folds;
