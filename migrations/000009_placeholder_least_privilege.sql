-- jobdeck 000009: a placeholder on branch sec-notify only.
--
-- Issue 18's least-privilege migration 000009 is written on another branch; numbered migrations
-- must not leave a gap, so this branch holds the number with a migration that changes nothing.
-- Merging: take the other branch's 000009 and delete this file.

select 1;
