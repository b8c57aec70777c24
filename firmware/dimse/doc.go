// Package dimse is the DICOM network front door of metsentry: the upper layer
// protocol (PS3.8) and the DIMSE services C-ECHO, C-STORE and, for Modality
// Performed Procedure Step, N-CREATE and N-SET (PS3.7) over TCP, optionally
// TLS.
//
// How the parts fit:
//
//   - pdu.go encodes and decodes PDUs; every declared length is checked
//     against a limit before anything is allocated, so a peer cannot make
//     the appliance allocate more than the PDU size it agreed to.
//   - command.go encodes and decodes DIMSE command sets (group 0000,
//     Implicit VR Little Endian).
//   - conn.go carries one association: PDU reads with the ARTIM or idle
//     timer, PDV reassembly across PDUs, fragmentation to the peer's maximum
//     PDU length. sockopt_linux.go sets TCP_NODELAY and TCP_QUICKACK so stock
//     senders that leave Nagle's algorithm on are not slowed by delayed ACKs.
//   - server.go and scp.go are the SCP: a Policy (AE titles, allowed peers,
//     limits, TLS) decides A-ASSOCIATE-AC or -RJ; each C-STORE data set is
//     streamed to a temp file from the Storage (never a whole study in
//     memory) and answered Success only after Storage.Store made it durable.
//     A Storage refusal that wraps a *dcmguard.Error (the shared bounded
//     DICOM check: structure, UIDs, geometry, pixel data) is answered A900
//     or C000 with its reason as the Error Comment, which the sender's
//     console shows.
//   - client.go is the SCU: Dial, Echo, StoreFile, StoreDataset, Release.
//   - mpps.go is MPPS on both sides: with Server.Steps set the SCP accepts
//     the MPPS SOP class and hands each N-CREATE and N-SET, its data set
//     bounded, checked by dcmguard and parsed (ParseStep), to Steps; a
//     COMPLETED step lists the series and instances the modality made.
//     Assoc.NCreate and NSet are the SCU side. Server.Ended reports how each
//     association ended: released or not, and how many instances it
//     stored and refused.
//   - storage.go defines the Storage contract the cache implements, and
//     DirStorage, a write-temp, fsync, rename, fsync-dir store for tests
//     and tools (parallel stores share folder syncs, a group commit).
//   - tls.go builds crypto/tls configurations for the BCP 195 TLS profile
//     (PS3.15 §B.9); Policy.TLS and Dialer.TLS take them.
//   - dimsetest builds the two-series MR test study (from the shared
//     Philips slices, normalised through dcmtk) for the interop tests and
//     tools/dimsebench.
//
// Time: the ARTIM and idle timers come from a Clock (SystemClock by
// default) and run only while waiting for the peer, so a slow Store is not
// taken for an idle peer and tests fire them without sleeping.
//
// Tests: the interop tests start dcmtk (echoscu, storescu, dcmsend,
// storescp) and Orthanc on free loopback ports. By default the slow cases
// send part of the 2×176 study; go test ./firmware/dimse -args -dimse.full
// sends the whole study in every syntax over 1 and 4 associations.
//
// Accepted on the SCP side: Verification, MR Image Storage and Enhanced MR
// Image Storage (and MPPS when Server.Steps is set), in Implicit VR LE, Explicit VR LE and Deflated Explicit VR
// LE; data sets are kept exactly as received, deflated ones included. Other
// contexts are refused one by one and the association goes on with the rest.
package dimse
