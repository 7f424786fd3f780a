// The SDK's API speaks in the core's records (Run, Step, Gate, RunState, ...), so importing
// Cairn is enough to use them.
@_exported import CairnCore
