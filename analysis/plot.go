package analysis

import (
	"fmt"
	"image/color"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Colours of the plot's layers.
var (
	colEnergy = color.NRGBA{R: 40, G: 90, B: 200, A: 255}
	colFloor  = color.NRGBA{R: 120, G: 120, B: 120, A: 255}
	colSpeech = color.NRGBA{R: 60, G: 170, B: 80, A: 110}
	colTone   = color.NRGBA{R: 230, G: 120, B: 20, A: 160}
	colEvent  = color.NRGBA{R: 200, G: 30, B: 30, A: 255}
)

// plot's fixed dB range: the envelope is clamped into it so every picture reads the same.
const (
	plotMinDB = -90.0
	plotMaxDB = 0.0
)

// SavePlot draws tr to path; the extension (.svg, .png, .pdf) picks the format.
func SavePlot(tr *Trace, title, path string) error {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".svg", ".png", ".pdf":
	default:
		return fmt.Errorf("plot %s: unsupported extension (want .svg or .png)", path)
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "audio time (s)"
	p.Y.Label.Text = "frame energy (dBFS)"
	p.Y.Min, p.Y.Max = plotMinDB, plotMaxDB+12
	p.X.Min, p.X.Max = 0, float64(tr.DurationMs)/1000
	p.Add(plotter.NewGrid())

	frameS := float64(tr.FrameMs) / 1000
	// VAD speech segments as a green band behind the envelope.
	for _, seg := range runs(tr.Speech) {
		if err := addBand(p, float64(seg[0])*frameS, float64(seg[1])*frameS, plotMinDB, plotMaxDB, colSpeech); err != nil {
			return err
		}
	}
	// Confirmed tones as orange bands along the top.
	for _, tn := range tr.Tones {
		if err := addBand(p, float64(tn.OnsetMs)/1000, float64(tn.EndMs)/1000, plotMaxDB, plotMaxDB+5, colTone); err != nil {
			return err
		}
	}
	energy := make(plotter.XYs, len(tr.EnergyDB))
	floor := make(plotter.XYs, len(tr.FloorDB))
	for i := range tr.EnergyDB {
		x := float64(i)*frameS + frameS/2
		energy[i] = plotter.XY{X: x, Y: clamp(tr.EnergyDB[i], plotMinDB, plotMaxDB)}
		floor[i] = plotter.XY{X: x, Y: clamp(tr.FloorDB[i], plotMinDB, plotMaxDB)}
	}
	le, err := plotter.NewLine(energy)
	if err != nil {
		return err
	}
	le.Color = colEnergy
	lf, err := plotter.NewLine(floor)
	if err != nil {
		return err
	}
	lf.Color = colFloor
	lf.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(le, lf)
	p.Legend.Add("energy", le)
	p.Legend.Add("noise floor", lf)
	p.Legend.Top = true

	// Events as vertical lines, labelled.
	var labels plotter.XYLabels
	for i, ev := range tr.Events {
		x := float64(ev.AtMs) / 1000
		l, err := plotter.NewLine(plotter.XYs{{X: x, Y: plotMinDB}, {X: x, Y: plotMaxDB + 5}})
		if err != nil {
			return err
		}
		l.Color = colEvent
		l.Width = vg.Points(1)
		p.Add(l)
		labels.XYs = append(labels.XYs, plotter.XY{X: x, Y: plotMinDB + 4 + float64(i%4)*6})
		labels.Labels = append(labels.Labels, strings.TrimPrefix(string(ev.Type), "amd_"))
	}
	if len(labels.XYs) > 0 {
		lb, err := plotter.NewLabels(labels)
		if err != nil {
			return err
		}
		for i := range lb.TextStyle {
			lb.TextStyle[i].Color = colEvent
			lb.TextStyle[i].XAlign = draw.XLeft
		}
		p.Add(lb)
	}
	width := vg.Length(6+float64(tr.DurationMs)/1000*0.6) * vg.Inch
	if width > 24*vg.Inch {
		width = 24 * vg.Inch
	}
	if err := p.Save(width, 4*vg.Inch, path); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}

func addBand(p *plot.Plot, x0, x1, y0, y1 float64, c color.Color) error {
	poly, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
	if err != nil {
		return err
	}
	poly.Color = c
	poly.LineStyle.Width = 0
	p.Add(poly)
	return nil
}

// runs returns [start, end) frame index pairs where b is true.
func runs(b []bool) [][2]int {
	var out [][2]int
	start := -1
	for i, v := range b {
		switch {
		case v && start < 0:
			start = i
		case !v && start >= 0:
			out = append(out, [2]int{start, i})
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, [2]int{start, len(b)})
	}
	return out
}

func clamp(v, lo, hi float64) float64 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}
