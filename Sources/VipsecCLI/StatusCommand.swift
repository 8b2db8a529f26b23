import ArgumentParser
import ClusterNode
import Foundation

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
            """)

    @Flag(help: "Print JSON instead of a table.") var json = false
    @Option(help: "The status socket [/run/vipsec/status.sock].") var socket = "/run/vipsec/status.sock"

    func run() throws {
        let result: (status: NodeStatus, json: Data)
        do {
            result = try StatusClient.read(path: socket)
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
