// SecretBytes, ContiguousOctets, constantTimeEquals and wipe come from the Secrets module,
// shared with the cluster code; everything that imports IKEv2 sees them as before.
@_exported import Secrets
