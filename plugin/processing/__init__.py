"""Processing toolbox provider "S1 Rice Mapper" (id ``s1ricemapper``) and its algorithms."""
