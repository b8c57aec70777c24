// Package score is the detection scoreboard: it compares predicted lesions
// with the truth of synthetic (or any labelled) studies and gives the numbers
// every report of the detector quotes.
//
// The rule is BraTS-METS's: the prediction is split into 26-connected
// components; a truth lesion is found when any component touches the lesion
// grown by one voxel (its 3×3×3 dilation); every component that touches no
// grown truth lesion is a false positive. One lesion split into two
// components is one hit and no false positive; one component over two lesions
// is two hits.
//
// Per case (Case) and over a set of cases (Summarize) it reports lesion-wise
// sensitivity, false positives per case, sensitivity per size bin (<3, 3–10,
// ≥10 mm longest diameter), study-level flag sensitivity and specificity,
// lesion-wise Dice and seconds per study; FROC sweeps the threshold of a
// probability map. report.go writes the Markdown, JSON and FROC PNG.
//
// The scorer labels components itself rather than trusting the detector's
// own component step, so a bug there cannot flatter the score.
//
// groups.go splits a run by any key of a case (SummarizeBy: the real brain a
// phantom case is drawn from, issue 23, CaseResult.Background) and writes per
// group the lesion sensitivity per size bin and the false positives per
// study by where they fall (GroupsMarkdown, BrainsMarkdown with the study
// flag figures, LocationsMarkdown for the location classes a caller placed
// them in). A Report carries them as ByBrain; its Comparison (an Arm) is
// the same cases run on other input, bright-only beside VISIBLE, written
// side by side and drawn as a second FROC curve.
package score
