// UDPEncapsulation comes from the IPsecValues module, shared with the IKE code.
@_exported import IPsecValues
