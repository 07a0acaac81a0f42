package access

import "testing"

func TestLevelsOrderAndPlainLegs(t *testing.T) {
	cases := []struct {
		level     string
		rank      int
		plainLegs bool
	}{
		{LevelFast, 0, true},
		{LevelMedium, 1, false},
		{LevelHigh, 2, false},
		{LevelVeryHigh, 3, false},
		{"", 3, false}, // the default level keeps TLS on the legs
	}
	for _, tc := range cases {
		rank, err := LevelRank(tc.level)
		if err != nil || rank != tc.rank {
			t.Errorf("LevelRank(%q) = %d, %v; want %d", tc.level, rank, err, tc.rank)
		}
		if got := PlainLegs(tc.level); got != tc.plainLegs {
			t.Errorf("PlainLegs(%q) = %v, want %v", tc.level, got, tc.plainLegs)
		}
	}
	for _, bogus := range []string{"Fast", "FAST", "fastest", " fast"} {
		if PlainLegs(bogus) || ValidLevel(bogus) {
			t.Errorf("%q is taken for a level", bogus)
		}
	}
}
