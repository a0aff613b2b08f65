"""Schema generation: pydantic models -> Kubernetes structural schemas -> CRD YAML."""
