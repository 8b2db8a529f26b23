import ArgumentParser
import ClusterNode
import Foundation
import IKEDaemon

/// `vipsec status`: what the routing node or a target's agent holds now.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the cluster as this node sees it (members, SAs, holders, lifesize, sequence blocks, drops).",
        discussion: """
            On the routing node: members and their health, every SA with its SPI and the targets \
            that hold it, sequence blocks, lifesize totals and the reporting percentage, drops. \
            On a target: its shadow SA cache with the kernel's counters. Reads the status socket \
            of the running `vipsec routing` or `vipsec target`.
            --connections lists the routing node's connection table instead (cluster { inbound { } }): \
            a header with the totals per target, then one line per entry (protocol, idle time left, \
            TCP state, inner source and destination, target, reqid and CHILD_SA line with its peer), \
            at most --limit entries, read in bounded pieces so the NFQUEUE workers are not stalled. \
            It asks the control socket (root and the control group), as list-sas does.
            """)

    @Flag(help: "Print JSON instead of a table.") var json = false
    @Option(help: "The status socket [\(StatusCommand.defaultStatusSocket)].") var socket: String?
    @Flag(help: "List the connection table's entries (routing node with inbound { }).") var connections = false
    @Option(help: "With --connections: the most entries listed, 0 for only the totals [\(OperatorRequest.defaultConnectionLimit)].")
    var limit: Int?
    @Option(name: .customLong("control-socket"), help: "With --connections: the control socket of vipsec routing [\(ControlSettings.defaultSocket)].")
    var controlSocket: String?

    static let defaultStatusSocket = "/run/vipsec/status.sock"

    func validate() throws {
        if connections, socket != nil {
            throw ValidationError("--socket names the status socket, which --connections does not read: use --control-socket")
        }
        if !connections, controlSocket != nil { throw ValidationError("--control-socket goes with --connections") }
        guard let limit else { return }
        guard connections else { throw ValidationError("--limit goes with --connections") }
        guard (0...OperatorRequest.maximumConnectionLimit).contains(limit) else {
            throw ValidationError("--limit wants a count of entries from 0 to \(OperatorRequest.maximumConnectionLimit), not \(limit)")
        }
    }

    func run() throws {
        if connections { return try listConnections() }
        let result: (status: NodeStatus, json: Data)
        do {
            result = try StatusClient.read(path: socket ?? Self.defaultStatusSocket)
        } catch {
            throw ValidationError("\(error)")
        }
        if json {
            FileHandle.standardOutput.write(result.json)
        } else {
            print(result.status.table)
        }
    }
}

extension StatusCommand {
    /// `--connections`: one control request; the answer printed as text or JSON.
    func listConnections() throws {
        var request = OperatorRequest(command: .connections, timeout: 0)
        request.limit = limit ?? OperatorRequest.defaultConnectionLimit
        let response: OperatorResponse
        do {
            response = try OperatorClient.send(request, path: controlSocket ?? ControlSettings.defaultSocket)
        } catch {
            FileHandle.standardError.write(Data("vipsec: \(error)\n".utf8))
            throw ExitCode.failure
        }
        guard response.ok, let list = response.connections else {
            FileHandle.standardError.write(Data("vipsec: \(response.error ?? "no connection table in the answer")\n".utf8))
            throw ExitCode.failure
        }
        if json {
            FileHandle.standardOutput.write(list.json)
        } else {
            print(list.text, terminator: "")
        }
    }
}
