// IKE fragmentation in an IKE_SA (RFC 7383): which fragments are taken, how a retransmitted
// fragmented request is answered, and when our own messages are fragmented.
//
// A fragment is taken only once IKE_SA_INIT negotiated fragmentation and keys exist; its
// ICV is verified before anything of it is kept (2.6.1), so fragments cost an attacker
// without the keys nothing but our decryption attempt. Accepted Message IDs:
// - a request: the one we expect next (gathered), or the one just answered, whose first
//   fragment (Fragment Number 1) alone gets the cached response again (2.6.1);
// - a response: the one to our request in flight.
// Once all fragments of a message are here, it goes on exactly as if it had arrived whole.
import NIOCore

extension IKESA {
    /// The size above which our messages are fragmented: nil when they never are
    /// (fragmentation not negotiated, or `fragmentation = accept`).
    var fragmentLimit: Int? {
        guard fragmentationNegotiated, configuration.fragmentation.sendsFragments else { return nil }
        return configuration.fragmentation.maximumMessageSize(local: local)
    }

    mutating func receiveFragment(_ message: IKEMessage, _ fragment: EncryptedFragmentPayload, now: Double) -> [IKEAction] {
        let id = message.header.messageID
        guard fragmentationNegotiated, message.header.exchangeType != .ikeSAInit,
              message.header.responderSPI == responderSPI, let keys = keyContext else {
            counters.unexpected += 1
            return []
        }
        let isRequest = !message.header.isResponse
        if isRequest {
            guard id == taskManager.expectedRequestMessageID || taskManager.lastResponse?.messageID == id else {
                _ = taskManager.requestReceived(messageID: id)   // counted as out of window
                return []
            }
        } else {
            guard id == taskManager.outstandingMessageID, taskManager.outstandingContext != .ikeSAInit else {
                _ = taskManager.responseReceived(messageID: id)   // counted as unexpected
                return []
            }
        }
        var piece: [UInt8]
        do { piece = try keys.openFragment(message).plaintext } catch {
            counters.integrityFailures += 1
            return []
        }
        defer { wipe(&piece) }
        counters.fragmentsReceived += 1
        if isRequest, id != taskManager.expectedRequestMessageID {
            return retransmittedRequestFragment(messageID: id, number: fragment.fragmentNumber)
        }
        let result = isRequest
            ? requestFragments.add(messageID: id, number: fragment.fragmentNumber, total: fragment.totalFragments,
                                   firstPayload: fragment.firstInnerPayload, plaintext: piece, now: now)
            : responseFragments.add(messageID: id, number: fragment.fragmentNumber, total: fragment.totalFragments,
                                    firstPayload: fragment.firstInnerPayload, plaintext: piece, now: now)
        switch result {
        case .incomplete:
            return []
        case .dropped(let reason):
            counters.fragmentsDropped[reason, default: 0] += 1
            return []
        case .complete(let first, var plaintext):
            defer { wipe(&plaintext) }
            counters.fragmentedMessagesReassembled += 1
            var buffer = ByteBuffer(bytes: plaintext)
            guard let inner = try? IKEMessage.parseInnerPayloads(firstPayload: first, from: &buffer) else {
                counters.malformed += 1
                return []
            }
            return isRequest ? receiveRequest(message, opened: inner, now: now)
                             : receiveResponse(message, opened: inner, now: now)
        }
    }

    /// The first fragment of a retransmission of the request just answered: the cached
    /// response again, unless it is held back for an install (then absorbed, as a whole
    /// retransmission would be).
    mutating func retransmittedRequestFragment(messageID: UInt32, number: UInt16) -> [IKEAction] {
        guard let datagrams = taskManager.requestFragmentReceived(messageID: messageID, fragmentNumber: number) else { return [] }
        if inFlight?.heldResponse?.messageID == messageID {
            taskManager.cachedResponseWithheld()
            counters.retransmitsAbsorbedWhileInstalling += 1
            return []
        }
        return datagrams.map(IKEAction.send)
    }
}
