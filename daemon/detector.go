package daemon

import "github.com/amd-engine/amd/engine"

// EngineDetector is the production DetectorFactory: the engine's detector.
func EngineDetector(cfg engine.Config) (Detector, error) {
	d, err := engine.NewDetector(cfg)
	if err != nil {
		// Never wrap a nil *engine.Detector in the interface.
		return nil, err
	}
	return d, nil
}
