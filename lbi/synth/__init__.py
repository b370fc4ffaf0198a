"""The synthesis pipeline: docs → tasks → rollouts → backward construction → committee filter."""
