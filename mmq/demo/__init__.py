"""``mmq demo``: the whole product on embedded defaults, driven by a realistic scenario."""
