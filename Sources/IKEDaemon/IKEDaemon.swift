// The NIO shell around IKEv2.
import IKEv2
