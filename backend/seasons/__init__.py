"""Rice seasons found from the data: crop cycles, cropping intensity, transplanting dates, map windows."""
