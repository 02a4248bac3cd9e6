//! Kubernetes protobuf bodies to JSON.
