package dimse

// Transfer syntaxes this package negotiates.
const (
	ImplicitVRLittleEndian         = "1.2.840.10008.1.2"
	ExplicitVRLittleEndian         = "1.2.840.10008.1.2.1"
	DeflatedExplicitVRLittleEndian = "1.2.840.10008.1.2.1.99"
)

// SOP classes this package negotiates.
const (
	VerificationSOPClass         = "1.2.840.10008.1.1"
	MRImageStorage               = "1.2.840.10008.5.1.4.1.1.4"
	EnhancedMRImageStorage       = "1.2.840.10008.5.1.4.1.1.4.1"
	SecondaryCaptureImageStorage = "1.2.840.10008.5.1.4.1.1.7"
	SegmentationStorage          = "1.2.840.10008.5.1.4.1.1.66.4"
	Comprehensive3DSRStorage     = "1.2.840.10008.5.1.4.1.1.88.34"
)

// Implementation identification sent in every A-ASSOCIATE-RQ and -AC
// (PS3.7 §D.3.3.2). The class UID is under the UUID-derived 2.25 root.
const (
	ImplementationClassUID    = "2.25.55641787284072396259694003422840396151"
	ImplementationVersionName = "METSENTRY_1"
)

// StorageSOPClasses are the SOP classes the C-STORE SCP accepts.
var StorageSOPClasses = []string{MRImageStorage, EnhancedMRImageStorage}

// TransferSyntaxes are the transfer syntaxes the SCP accepts.
var TransferSyntaxes = []string{ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian}

// ResultSOPClasses are the SOP classes the SCU proposes for sending results.
var ResultSOPClasses = []string{SegmentationStorage, Comprehensive3DSRStorage, SecondaryCaptureImageStorage, MRImageStorage, EnhancedMRImageStorage}

// Context is a presentation context an SCU proposes.
type Context struct {
	AbstractSyntax   string
	TransferSyntaxes []string
}

// VerificationContext proposes the Verification SOP class for C-ECHO.
func VerificationContext() Context {
	return Context{AbstractSyntax: VerificationSOPClass, TransferSyntaxes: []string{ImplicitVRLittleEndian}}
}

// StorageContexts proposes each SOP class once per transfer syntax, so the
// peer answers each pair on its own and the SCU can send every file in the
// syntax it is stored in, without transcoding.
func StorageContexts(sopClasses ...string) []Context {
	if len(sopClasses) == 0 {
		sopClasses = ResultSOPClasses
	}
	var cs []Context
	for _, sop := range sopClasses {
		for _, ts := range TransferSyntaxes {
			cs = append(cs, Context{AbstractSyntax: sop, TransferSyntaxes: []string{ts}})
		}
	}
	return cs
}
