//! Node agent library: node and pod status logic shared by the kubelet and the node simulator.
