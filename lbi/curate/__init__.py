"""Curation at scale: going through a review queue one example at a time (`review`), bulk decisions over a
selection, previewed and undone as one (`bulk`), and clusters of instructions (`clusters`). What they read lives in
the store's read side (`lbi.store.queues`, `lbi.store.clusters`, `lbi.store.lineage`); every keep or drop is a human
override written by the store."""
