"""The message pipeline's actions, one module per verb family (Zulip's
zerver/actions shape): send, recall, typing, open. Import from the module."""
