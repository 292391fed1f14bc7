-- Conversations belong to their user (issue 11 §1): the chat lists, reads, renames, deletes, continues
-- and cancels only the caller's own conversations, admins' included (nobody reads another's chats
-- through the API). Deleting a user deletes their conversations (and, by 001's cascade, messages).
ALTER TABLE conversations ADD COLUMN user_id uuid REFERENCES users (id) ON DELETE CASCADE;

-- GET /api/conversations: one user's, newest activity first, keyset-paginated on (updated_at, id).
CREATE INDEX conversations_user_updated_idx ON conversations (user_id, updated_at DESC, id DESC);
DROP INDEX IF EXISTS conversations_updated_at_idx;

-- Conversations made before there were users go to the first admin: the oldest one now, or, on a
-- database upgraded before any user exists (the identity function creates the first admin at its
-- start, after migrations), the first admin created later (the trigger below). A conversation
-- without an owner is visible to nobody; once the first admin exists there is none left.
UPDATE conversations
   SET user_id = (SELECT id FROM users WHERE role = 'admin' ORDER BY created_at, id LIMIT 1)
 WHERE user_id IS NULL;

CREATE FUNCTION prism_adopt_ownerless_conversations() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.role = 'admin' THEN
        UPDATE conversations SET user_id = NEW.id WHERE user_id IS NULL;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_adopt_ownerless_conversations
    AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION prism_adopt_ownerless_conversations();
