package testenv

// What the tests, tools and scripts use from outside the Go module, with the
// Debian package that provides each. `./build.sh deps` installs the packages
// named in its APT_PACKAGES list; TestDeps* in this package check that every
// program a Go file runs and every module a Python script imports is named
// here, that every package named here is in that list, and, on a machine
// where deps has run, that dpkg agrees a package really provides the file.
// A machine set up by hand can hide a missing package; these tables cannot.

// Programs maps an external program to the Debian package that provides it.
// An empty package marks a prerequisite of the machine itself (README: Debian
// 12 with Go at /usr/local/go), which build.sh does not install.
var Programs = map[string]string{
	"dcentvfy":              "dicom3tools",
	"dciodvfy":              "dicom3tools",
	"dcm2pnm":               "dcmtk",
	"dcmconv":               "dcmtk",
	"dcmdump":               "dcmtk",
	"dcmsend":               "dcmtk",
	"dsrdump":               "dcmtk",
	"echoscu":               "dcmtk",
	"storescp":              "dcmtk",
	"storescu":              "dcmtk",
	"Orthanc":               "orthanc",
	"java":                  "openjdk-17-jre-headless",
	"python3":               "python3-minimal",
	"go":                    "",
	"dpkg-query":            "", // Debian's own package tool
	"file":                  "file",
	"aarch64-linux-gnu-gcc": "gcc-aarch64-linux-gnu",
	"systemd-analyze":       "systemd", // tools/mkdeb: the unit is verified
	"dpkg":                  "",        // Debian's own package tools: tools/mkdeb installs
	"dpkg-deb":              "",        // the .deb into a scratch root
	"ldd":                   "",        // libc-bin, essential: the scratch root's /bin/sh libraries
	"sync":                  "",        // coreutils, essential: tools/dimsebench times storescp + sync
	"strace":                "strace",  // tools/dimsebench -strace: syncs per instance
}

// Files maps a file a test reads from the system to its Debian package.
var Files = map[string]string{
	"/usr/share/java/pixelmed.jar": "libpixelmed-java",
}

// PythonModules maps a third-party module imported by a Python script in the
// repository (tests run some of them; the training recipe runs the rest) to
// its Debian package. Standard-library modules and the scripts' own modules
// need no entry.
var PythonModules = map[string]string{
	"numpy": "python3-numpy",
	"onnx":  "python3-onnx",
	"torch": "python3-torch",
}

// Python is the interpreter the scripts run under: Debian's, whose packages
// build.sh installs (a python3 earlier on PATH, such as a pyenv shim, has
// none of them).
const Python = "/usr/bin/python3"
