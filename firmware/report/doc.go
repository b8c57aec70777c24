// Package report writes an analysis's results as DICOM objects any PACS or
// viewer can show:
//
//   - SEG (seg.go): a Segmentation, BINARY, one segment per lesion on the
//     source series' grid, holding only the frames where a segment has
//     pixels (by segment, then slice), each frame pointing at its source
//     image, which the Referenced Series Sequence lists under its series;
//   - SR (sr.go): a Comprehensive 3D SR following TID 1500 (Imaging
//     Measurement Report), one measurement group per lesion that points at
//     its SEG segment; a negative study says so explicitly;
//   - SC (sc.go, render.go): an annotated secondary-capture series, one image
//     per lesion through its largest cross-section with contours and numbers
//     burned in, and a summary image with the lesion table, all marked "NOT
//     FOR DIAGNOSTIC USE".
//
// All three copy the source's Patient and Study modules unchanged (Source,
// HeaderElements) so they file under the same patient and study, and each is
// a new series. Objects are built as suyashkumar/dicom datasets (dcm.go);
// pixel data that the library cannot encode itself (1-bit SEG frames) is
// passed through its unprocessed-value path as packed bytes.
//
// Write (write.go) produces all of them in a folder, atomically per file.
package report
