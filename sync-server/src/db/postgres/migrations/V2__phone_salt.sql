-- Tills keep no phone numbers, only their hashes with a salt per merchant
-- (issue 10, part 4): a random salt for every merchant, old and new (the
-- volatile default gives each existing row its own).
ALTER TABLE merchants
    ADD COLUMN phone_salt TEXT NOT NULL DEFAULT replace(gen_random_uuid()::text, '-', '');
