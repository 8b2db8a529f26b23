// SecretBytes comes from the Secrets module, shared with the IKE code: an SA key goes from
// IKEv2's key derivation to a target's InstallSA without a copy into another container.
@_exported import Secrets
