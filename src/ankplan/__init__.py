"""ankplan: agentless plan/apply for Eclipse Ankaios workload manifests on Podman hosts."""

__version__ = "0.1.0"
