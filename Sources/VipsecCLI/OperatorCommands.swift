// `vipsec list-sas`, `initiate`, `terminate`, `rekey`, `redirect`, `reload`: the operator's commands, sent to the
// running `vipsec routing` over its control socket (IKEDaemon/Operator). Each prints what
// the daemon answered; a refused or failed command exits with status 1 and says why.
import ArgumentParser
import Foundation
import IKEDaemon

/// The options every control command shares.
struct ControlSocketOptions: ParsableArguments {
    @Option(help: "The control socket of vipsec routing [\(ControlSettings.defaultSocket)].")
    var socket = ControlSettings.defaultSocket

    /// Sends `request`; prints the messages (or the error on stderr) and returns the answer.
    func send(_ request: OperatorRequest) throws -> OperatorResponse {
        let response: OperatorResponse
        do {
            response = try OperatorClient.send(request, path: socket)
        } catch {
            FileHandle.standardError.write(Data("vipsec: \(error)\n".utf8))
            throw ExitCode.failure
        }
        return response
    }
}

/// Prints a command's answer: its messages, or its error on stderr and exit status 1.
func finish(_ response: OperatorResponse, json: Bool) throws {
    if json, let sas = response.sas { FileHandle.standardOutput.write(sas.json) }
    if response.ok {
        if !json { response.messages.forEach { print($0) } }
        return
    }
    FileHandle.standardError.write(Data("vipsec: \(response.error ?? "failed")\n".utf8))
    throw ExitCode.failure
}

struct ListSAsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list-sas",
        abstract: "List the IKE_SAs and CHILD_SAs of the running vipsec routing (as swanctl --list-sas).",
        discussion: """
            For each IKE_SA: connection name, unique id (our SPI), state, addresses, SPIs, \
            proposal, rekey and expiry times; for each CHILD_SA: name, unique id (its inbound \
            SPI), reqid, SPIs, proposal, traffic selectors, bytes and packets, and in a cluster \
            the targets holding each SA. --json prints the documented document (README, \
            Operations). No key material is ever shown.
            """)
    @OptionGroup var control: ControlSocketOptions
    @Flag(help: "Print JSON (README, Operations: the keys are stable).") var json = false

    func run() throws {
        let response = try control.send(OperatorRequest(command: .listSAs, timeout: 0))
        if response.ok, !json { print(response.sas?.text ?? "", terminator: "") }
        try finish(response, json: json)
    }
}

struct InitiateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "initiate",
        abstract: "Initiate a connection (CONN) or one child of it (CONN/CHILD), and wait until it is up.",
        discussion: """
            Without an IKE_SA of the connection: IKE_SA_INIT and IKE_AUTH with the child (or the \
            connection's first start_action = start child, else its first). With one: \
            CREATE_CHILD_SA for the child. Exit status 1 when the connection or child is not \
            configured or it is not up within --timeout.
            """)
    @OptionGroup var control: ControlSocketOptions
    @Argument(help: "CONNECTION or CONNECTION/CHILD.") var target: String
    @Option(help: "Seconds to wait for the SAs (0: do not wait) [30].") var timeout: Double = 30

    func validate() throws { try validateTimeout(timeout) }

    func run() throws {
        let request: OperatorRequest
        do { request = try OperatorRequest.initiate(target, timeout: timeout) } catch { throw ValidationError("\(error)") }
        try finish(try control.send(request), json: false)
    }
}

/// The selector options of terminate and rekey (swanctl's names).
struct SASelectorOptions: ParsableArguments {
    @Option(help: "Every IKE_SA of this connection.") var ike: String?
    @Option(name: .customLong("ike-id"), help: "The IKE_SA with this unique id (list-sas: #<16 hex digits>).") var ikeID: String?
    @Option(help: "Every CHILD_SA of this child name.") var child: String?
    @Option(name: .customLong("child-id"), help: "The CHILD_SA with this unique id (list-sas: #<8 hex digits>, its inbound SPI).") var childID: String?
    @Option(help: "Seconds to wait for the effect (0: do not wait) [30].") var timeout: Double = 30

    func validate() throws { try validateTimeout(timeout) }

    func selector() throws -> SASelector {
        do { return try SASelector.from(ike: ike, ikeID: ikeID, child: child, childID: childID) } catch {
            throw ValidationError("\(error)")
        }
    }

    /// Sends `command` on the selected SAs and prints the outcome.
    func send(_ command: OperatorRequest.Command, _ control: ControlSocketOptions) throws {
        try finish(try control.send(OperatorRequest(command: command, selector: try selector(), timeout: timeout)), json: false)
    }
}

/// `--timeout` is a number of seconds from 0 to `OperatorRequest.maximumTimeout`.
func validateTimeout(_ timeout: Double) throws {
    guard timeout.isFinite, (0...OperatorRequest.maximumTimeout).contains(timeout) else {
        throw ValidationError("--timeout wants seconds from 0 to \(Int(OperatorRequest.maximumTimeout)), not \(timeout)")
    }
}

struct TerminateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "terminate",
        abstract: "Delete IKE_SAs or CHILD_SAs with the peer, and wait until they are gone.",
        discussion: "Deleting an IKE_SA deletes its CHILD_SAs. Exit status 1 when nothing matches or it takes longer than --timeout.")
    @OptionGroup var control: ControlSocketOptions
    @OptionGroup var select: SASelectorOptions

    func run() throws { try select.send(.terminate, control) }
}

struct RedirectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redirect",
        abstract: "Send new peers to another gateway (RFC 5685), to drain this one; --off serves them again.",
        discussion: """
            Peers whose IKE_SA_INIT announces REDIRECT_SUPPORTED are answered with N(REDIRECT) \
            and no state is kept; others are served. IKE_SAs already up stay. Replaces the \
            config file's vipsec { redirect { } } until the daemon restarts.
            """)
    @OptionGroup var control: ControlSocketOptions
    @Option(help: "The gateway peers go to: an IP address or a host name.") var to: String?
    @Option(name: .customLong("above-ike-sas"), help: "Only while this many IKE_SAs are held [0: always].") var aboveIKESAs = 0
    @Flag(help: "Stop redirecting.") var off = false
    @Flag(help: "Also ask the peers of IKE_SAs already up to move (INFORMATIONAL N(REDIRECT)).") var established = false

    func validate() throws {
        guard (to != nil) != off else { throw ValidationError("give --to GATEWAY or --off") }
        guard !(off && established) else { throw ValidationError("--established goes with --to, not --off") }
        guard aboveIKESAs >= 0 else { throw ValidationError("--above-ike-sas wants a count, not \(aboveIKESAs)") }
        if let to, RedirectSettings.gateway(to) == nil {
            throw ValidationError("--to: '\(to)' is neither an IP address nor a host name")
        }
    }

    func run() throws {
        var request = OperatorRequest(command: .redirect, timeout: 0)
        request.gateway = to
        request.aboveIKESAs = aboveIKESAs
        request.established = established
        try finish(try control.send(request), json: false)
    }
}

struct RekeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rekey",
        abstract: "Rekey IKE_SAs or CHILD_SAs now, and wait until the new SAs replaced the old.",
        discussion: "Exit status 1 when nothing matches or the rekey takes longer than --timeout.")
    @OptionGroup var control: ControlSocketOptions
    @OptionGroup var select: SASelectorOptions

    func run() throws { try select.send(.rekey, control) }
}

struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Read the configuration file again and apply it to the running vipsec routing (as SIGHUP).",
        discussion: """
            Connections are matched by name. Added: loaded (initiated with a start_action = start \
            child). Removed: their IKE_SAs and CHILD_SAs deleted with the peer. Changed (any key, \
            child, certificate or matching secret): deleted with the peer and set up again as new. \
            Unchanged: their SAs and traffic are not touched. A file that does not load, or that \
            changes vipsec { }, is refused (file, line and key; exit status 1) and the running \
            configuration stays. Prints what was added, removed, changed and unchanged.
            """)
    @OptionGroup var control: ControlSocketOptions
    @Option(help: "Seconds to wait for the deleted IKE_SAs before initiating [30].") var timeout: Double = 30

    func validate() throws { try validateTimeout(timeout) }

    func run() throws {
        try finish(try control.send(OperatorRequest(command: .reload, timeout: timeout)), json: false)
    }
}
