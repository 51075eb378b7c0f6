module jetscale.io/tools/pause

go 1.24
