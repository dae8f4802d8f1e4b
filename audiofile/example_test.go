package audiofile_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/amd-engine/amd/audiofile"
)

// Decode sniffs the content, resamples to 8 kHz and averages to mono.
func ExampleDecode() {
	tone := make([]int16, 16000) // 1 s at 16 kHz
	for i := range tone {
		tone[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/16000))
	}
	var file bytes.Buffer
	if err := audiofile.WriteWAV(&file, tone, 16000, audiofile.Alaw); err != nil {
		panic(err)
	}
	a, err := audiofile.Decode(&file, int64(file.Len()))
	if err != nil {
		panic(err)
	}
	fmt.Println(a.Format, a.SourceRate, a.Channels, len(a.Samples), a.DurationMs)
	// Output: wav-alaw 16000 1 8000 1000
}

// Errors are single lines wrapping one sentinel.
func ExampleDecode_errors() {
	_, err := audiofile.Decode(strings.NewReader("ID3\x04\x00\x00\x00\x00\x00\x00"), -1)
	fmt.Println(err)
	fmt.Println(errors.Is(err, audiofile.ErrUnsupported))
	// Output:
	// unsupported format: MP3 (ID3 tag)
	// true
}
