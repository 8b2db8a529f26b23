// Which installed CHILD_SAs use each XFRM policy. A policy is named by its selector and
// direction (not by reqid): a rekeyed CHILD_SA and its successor share the very same
// policies, and so do two IKE_SAs' CHILD_SAs for the same selectors (a peer's duplicate,
// which also shares the reqid: IKEv2/SA/ReqidAllocator.swift). A policy leaves the kernel
// when its last CHILD_SA does. O(policies of one CHILD_SA) per install and delete. Pure.
import XFRM

struct PolicyUsers {
    private var users: [XFRMPolicyID: Int] = [:]

    /// Policies in use.
    var count: Int { users.count }

    /// How many installed CHILD_SAs use `policy`.
    func users(of policy: XFRMPolicyID) -> Int { users[policy] ?? 0 }

    /// A CHILD_SA with these policies was installed.
    mutating func add(_ policies: [XFRMPolicyID]) {
        for policy in Set(policies) { users[policy, default: 0] += 1 }
    }

    /// A CHILD_SA with these policies is gone; returns those no CHILD_SA uses any more (to
    /// delete from the kernel).
    mutating func release(_ policies: [XFRMPolicyID]) -> [XFRMPolicyID] {
        var unused: [XFRMPolicyID] = []
        for policy in policies where users[policy] != nil {   // in order, each once
            let left = users[policy, default: 0] - 1
            if left <= 0 {
                users[policy] = nil
                unused.append(policy)
            } else {
                users[policy] = left
            }
        }
        return unused
    }
}
