"""grpc adapter."""
