-- What the datasets page shows of a dataset beyond its counts: the sizes of its training
-- images on disk (the smallest and largest width and height, each on its own, and the most
-- common width × height) and the class of each cell of its sample grid (a JSON array of
-- class names; NULL for an unlabelled dataset). Rows registered before this have none (NULL).
ALTER TABLE datasets ADD COLUMN min_width INTEGER;
ALTER TABLE datasets ADD COLUMN min_height INTEGER;
ALTER TABLE datasets ADD COLUMN max_width INTEGER;
ALTER TABLE datasets ADD COLUMN max_height INTEGER;
ALTER TABLE datasets ADD COLUMN common_width INTEGER;
ALTER TABLE datasets ADD COLUMN common_height INTEGER;
ALTER TABLE datasets ADD COLUMN sample_labels TEXT;
