"""The lab's certificates: pki makes anchors, issuers and workload certificates; files lays them out under
the lab's state directory as the guide names them."""
