extension ContainerSpec {
    /// The label that puts a container on its job's own network (issue 13: the hosts of one job
    /// reach each other by name, and nothing else). Its value is the network's name; the container's
    /// `networkMode` names the same network. A runtime that knows networks creates the network
    /// before the first such container and removes it with the last one; the others ignore it.
    public static let clusterNetworkLabel = "trainyard.network"

    /// The job network this container belongs on, if any.
    public var clusterNetwork: String? { labels[Self.clusterNetworkLabel] }
}
