#!/usr/bin/env python3
"""Unit tests of netns-lab/lib/esp-sequence-check.py on synthetic captures.

The lab's wire checks must fail on a real fault (a (SPI, sequence number) sent twice, one
SPI from two senders, a packet so late the peer's replay window drops it, a packet outside
its sender's block) and must not fail on the harmless neighbour (a sender's own kernel
finishing its encryptions out of order, inside the window). Each case builds a pcap.

    python3 -m unittest discover -s netns-lab/tests -p 'test_*.py'
"""
import contextlib
import importlib.util
import io
import os
import struct
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("esc", os.path.join(HERE, "..", "lib", "esp-sequence-check.py"))
esc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(esc)

MAC1, MAC2 = "02:00:00:00:00:01", "02:00:00:00:00:02"


def frame(mac, spi, seq, ipv6=False):
    """An Ethernet frame carrying an ESP header (SPI, seq) and 16 bytes of 'ciphertext'."""
    src = bytes(int(x, 16) for x in mac.split(":"))
    esp = struct.pack(">II", spi, seq) + bytes(16)
    if ipv6:
        ip = struct.pack(">IHBB", 6 << 28, len(esp), 50, 64) + bytes(32)
        return bytes(6) + src + b"\x86\xdd" + ip + esp
    ip = struct.pack(">BBHHHBBH", 0x45, 0, 20 + len(esp), 0, 0, 64, 50, 0) + bytes(8)
    return bytes(6) + src + b"\x08\x00" + ip + esp


def pcap(frames):
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for i, f in enumerate(frames):
        out += struct.pack("<IIII", 1000 + i // 1000, (i % 1000) * 1000, len(f), len(f)) + f
    return out


class WireCheckTests(unittest.TestCase):
    def run_wire(self, frames, *args):
        with tempfile.NamedTemporaryFile(suffix=".pcap", delete=False) as f:
            f.write(pcap(frames))
        self.addCleanup(os.unlink, f.name)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = esc.wire_main([f.name, *args])
        return status, out.getvalue()

    def test_in_order_passes(self):
        frames = [frame(MAC1, 0x10, n) for n in range(1, 101)] + [frame(MAC2, 0x20, n) for n in range(1, 101)]
        status, out = self.run_wire(frames, "--window", "32", "--spis", "2", "--one-sender", "--per-spi", "100")
        self.assertEqual(status, 0, out)
        self.assertIn("repeated (SPI, seq): 0; reordered by the sender: 0", out)

    def test_reordering_inside_the_window_is_counted_and_passes(self):
        # 1..30, then 52..31 is not it: the kernel finishes 21 late packets behind a later one.
        seqs = list(range(1, 30)) + [51] + list(range(30, 51)) + list(range(52, 80))
        status, out = self.run_wire([frame(MAC1, 0x10, n) for n in seqs], "--window", "32")
        self.assertEqual(status, 0, out)
        self.assertIn("reordered by the sender: 21 (at most 21 behind; 0 beyond", out)

    def test_a_repeated_sequence_number_fails_even_in_order_otherwise(self):
        seqs = [1, 2, 3, 3, 4]
        status, out = self.run_wire([frame(MAC1, 0x10, n) for n in seqs], "--window", "1024")
        self.assertEqual(status, 1, out)
        self.assertIn("repeated (SPI, seq): 1;", out)

    def test_the_same_number_on_two_spis_is_no_repeat(self):
        frames = [frame(MAC1, 0x10, n) for n in (1, 2)] + [frame(MAC2, 0x20, n) for n in (1, 2)]
        status, out = self.run_wire(frames, "--window", "32")
        self.assertEqual(status, 0, out)

    def test_reordering_beyond_the_window_fails(self):
        seqs = list(range(1, 60)) + [10]
        seqs.remove(10)
        status, out = self.run_wire([frame(MAC1, 0x10, n) for n in seqs + [10]], "--window", "32")
        self.assertEqual(status, 1, out)
        self.assertIn("1 beyond the peer's window of 32", out)

    def test_one_spi_from_two_senders_fails_with_one_sender(self):
        frames = [frame(MAC1, 0x10, 1), frame(MAC2, 0x10, 2)]
        self.assertEqual(self.run_wire(frames, "--window", "32")[0], 0)
        status, out = self.run_wire(frames, "--window", "32", "--one-sender")
        self.assertEqual(status, 1, out)
        self.assertIn("sent by 2 senders", out)

    def test_counts_of_spis_and_frames_are_enforced(self):
        frames = [frame(MAC1, 0x10, n, ipv6=True) for n in range(1, 11)]
        self.assertEqual(self.run_wire(frames, "--window", "32", "--spis", "1", "--per-spi", "10")[0], 0)
        self.assertEqual(self.run_wire(frames, "--window", "32", "--spis", "3")[0], 1)
        self.assertEqual(self.run_wire(frames, "--window", "32", "--per-spi", "11")[0], 1)

    def test_an_empty_capture_fails(self):
        status, out = self.run_wire([], "--window", "32")
        self.assertEqual(status, 1)
        self.assertIn("no ESP frame", out)


class GrantCheckTests(unittest.TestCase):
    """The shared-SA form: every packet inside a block granted to its sender, none twice."""

    def run_grants(self, frames, grants):
        d = tempfile.mkdtemp()
        cap, log = os.path.join(d, "c.pcap"), os.path.join(d, "routing.log")
        with open(cap, "wb") as f:
            f.write(pcap(frames))
        with open(log, "w") as f:
            for node, first, last in grants:
                f.write("sequence-grant node=%s sa=5 first=%d last=%d\n" % (node, first, last))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = esc.main(["x", cap, log, "t1=%s,t2=%s" % (MAC1, MAC2)])
        return status, out.getvalue()

    def test_packets_inside_their_senders_blocks_pass(self):
        frames = [frame(MAC1, 0x10, n) for n in range(1, 17)] + [frame(MAC2, 0x10, n) for n in range(17, 33)]
        status, out = self.run_grants(frames, [("t1", 1, 16), ("t2", 17, 32)])
        self.assertEqual(status, 0, out)

    def test_a_packet_in_another_senders_block_fails(self):
        frames = [frame(MAC1, 0x10, 1), frame(MAC1, 0x10, 17)]
        status, out = self.run_grants(frames, [("t1", 1, 16), ("t2", 17, 32)])
        self.assertEqual(status, 1, out)
        self.assertIn("outside every block granted to their sender: 1", out)

    def test_a_number_sent_by_two_targets_fails(self):
        frames = [frame(MAC1, 0x10, 3), frame(MAC2, 0x10, 3)]
        status, out = self.run_grants(frames, [("t1", 1, 16), ("t2", 1, 16)])
        self.assertEqual(status, 1, out)
        self.assertIn("duplicate (SPI, sequence number) pairs: 1", out)
        self.assertIn("overlapping pairs: 1", out)


if __name__ == "__main__":
    unittest.main()
