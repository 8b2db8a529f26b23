// UDPEncapsulation comes from the IPsecValues module, shared with the cluster code.
@_exported import IPsecValues
