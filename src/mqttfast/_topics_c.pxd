# Declared here so the compiled codec calls it as a C function.
cpdef validate_topic_filter(topic_filter)
cpdef validate_topic_name(name)
