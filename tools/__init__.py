"""Controller-side helpers: set-up, the collection installer, lock and docs generators."""
