-- The DPO's decision on the requester's identity, kept after the identity
-- documents are gone (EDPB guidelines 01/2022 §78: keep the outcome, the
-- method, the date and the agent, not the copy): `identity_outcome`
-- `verified` | `insufficient`, `identity_method` `id_document` |
-- `in_person` | `franceconnect` | `other`, when and by whom (the staff
-- member's e-mail). The note is free text: the retention erases it with
-- the requester's other data.
ALTER TABLE rights_requests ADD COLUMN identity_outcome TEXT;
ALTER TABLE rights_requests ADD COLUMN identity_method TEXT;
ALTER TABLE rights_requests ADD COLUMN identity_at TIMESTAMP;
ALTER TABLE rights_requests ADD COLUMN identity_by TEXT;
ALTER TABLE rights_requests ADD COLUMN identity_note TEXT;
-- When the requester sent an identity document the DPO asked for, until the
-- DPO opens the request or one of its documents, or moves it: the queue's
-- « Nouvelle pièce ».
ALTER TABLE rights_requests ADD COLUMN new_document_at TIMESTAMP;
