-- Tills keep no phone numbers, only their hashes with a salt per merchant
-- (issue 10, part 4): a random salt for every merchant, old and new.
ALTER TABLE merchants ADD COLUMN phone_salt TEXT;
UPDATE merchants SET phone_salt = lower(hex(randomblob(16))) WHERE phone_salt IS NULL;
CREATE TRIGGER merchants_phone_salt AFTER INSERT ON merchants
WHEN NEW.phone_salt IS NULL
BEGIN
    UPDATE merchants SET phone_salt = lower(hex(randomblob(16))) WHERE id = NEW.id;
END;
