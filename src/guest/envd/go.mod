module hangar/envd

go 1.19
