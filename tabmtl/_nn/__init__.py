"""The torch side: network, loss, architectures and weightings."""
