-- Optimistic concurrency for the dialogue: `version` grows by one whenever the conversation's
-- status or dialogue state changes. A bot turn is computed from one version and stored only if the
-- conversation still has it, so two messages arriving at once cannot overwrite each other's state.
ALTER TABLE conversations ADD COLUMN version INTEGER NOT NULL DEFAULT 0 CHECK (version >= 0);
