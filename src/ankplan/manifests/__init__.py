"""The input pipeline for manifests: YAML with positions -> schema -> templates and runtime
configs -> Workloads -> semantic checks. Pure once a file is read (`yaml_reader` does the read)."""
