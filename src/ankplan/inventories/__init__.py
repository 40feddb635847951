"""Inventories: ankplan's own YAML format, Ansible YAML inventories and ~/.ssh/config, read into
an `Inventory`. Reads files; everything after reading is pure."""
