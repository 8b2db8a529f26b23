// The routing node's cluster service and the target agent (NIO + TLS shells around Cluster).
import Cluster
