// IKEv2 crypto with OpenSSL.
import IKEv2
